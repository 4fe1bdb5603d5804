"""Shared plumbing for every CDP service: settings, logs, clients, Kafka, gRPC, GraphQL.

Services import from here instead of growing their own copies, so that every
service has the same inner shape (see DESIGN.md section 5).
"""
