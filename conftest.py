# Shared fixtures for every suite in the workspace: real servers (see zipbob_devkit.testing).
pytest_plugins = ["zipbob_devkit.testing"]
