"""Background jobs: one queue interface (``queue.JobQueue``), PostgreSQL or SQS transport; each service
lists the handlers of its job kinds (``Service.jobs``) and the app gives them to the queue."""
