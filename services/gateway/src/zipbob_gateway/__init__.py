"""ZipBob gateway: signup/login, JWT issuing, routing to the services, rate limits."""
