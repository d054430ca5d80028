"""AWS Lambda entry points: ``runtime.handlers.<service>.handler`` for each of
``runtime.route_table.LAMBDA_SERVICES``. Each module builds its app through
``runtime.handlers.adapter.lambda_handler`` (Mangum, lifespan off, one persistent event loop)."""
