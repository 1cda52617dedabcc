"""Settings, wiring of stores and services, logging, the CLI, and the scripts
that provision PostgreSQL and Kafka for development, CI and benchmarks."""
