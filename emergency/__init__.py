"""The emergency-aid domain: incidents, household cases, entitlement rules.

No HTTP, no Kafka, no SQL here: the API, projections and consumers build on it.
"""
