"""The REST API's core: personal access tokens and what each endpoint asks of core."""
