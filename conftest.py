# Shared fixtures for every suite in the workspace: real servers (see zipbob_platform.testing).
pytest_plugins = ["zipbob_platform.testing"]
