#!/bin/bash
# Runs once, when the MariaDB data directory is first initialised (docker-entrypoint-initdb.d):
# one database and one least-privilege user per service that owns relational data.
# Passwords come from the environment (Kubernetes Secret / compose .env), never from git.
set -euo pipefail
: "${GATEWAY_DB_PASSWORD:?GATEWAY_DB_PASSWORD is required}"
: "${CATALOG_DB_PASSWORD:?CATALOG_DB_PASSWORD is required}"
mariadb --protocol=socket -uroot -p"${MARIADB_ROOT_PASSWORD}" <<SQL
CREATE DATABASE IF NOT EXISTS gateway CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'gateway'@'%' IDENTIFIED BY '${GATEWAY_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'catalog'@'%' IDENTIFIED BY '${CATALOG_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON gateway.* TO 'gateway'@'%';
GRANT ALL PRIVILEGES ON catalog.* TO 'catalog'@'%';
FLUSH PRIVILEGES;
SQL
