"""Background jobs: one queue interface (``queue.JobQueue``), PostgreSQL or SQS transport, explicit handlers."""
