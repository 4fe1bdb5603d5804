"""Shared plumbing for every CDP service: settings, logs, clients, Kafka, gRPC, GraphQL.

Services import from here instead of growing their own copies, so that every
service has the same inner shape (README.md, "What is where": `__main__.py`,
domain modules, `store.py`, `grpc_api.py`, `graphql_api.py`, `workers.py`).
"""
