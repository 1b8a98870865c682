"""Avro contracts (.avsc), the Confluent wire-format serializer and the registry client."""
