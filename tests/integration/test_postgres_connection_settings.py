"""fs's own PostgreSQL connection takes the profile's connection settings as dbt-postgres does
(a review found `sslmode: require` ignored: fs connected without TLS where dbt refused to).
Against the tests' real PostgreSQL; the settings are read back from the server or the
connection itself."""

from __future__ import annotations

import pytest

from featurestore.engines.postgres import PostgresWarehouse
from featurestore.engines.registry import engine_for_adapter
from featurestore.project.profiles import Target

pytestmark = pytest.mark.integration


def warehouse(postgres_server, **settings) -> PostgresWarehouse:
    target = Target("pg", "postgres", "public", {**postgres_server.credentials(), **settings})
    return PostgresWarehouse(engine_for_adapter("postgres", "test"), target, read_only=True)


def test_the_profiles_connection_settings_reach_the_connection(postgres_server):
    opened = warehouse(postgres_server, sslmode="disable", connect_timeout=7, keepalives_idle=30, application_name="fs-settings-test")
    try:
        parameters = opened.connection.info.get_parameters()
        assert (parameters.get("sslmode"), parameters.get("connect_timeout"), parameters.get("keepalives_idle")) == ("disable", "7", "30")
        assert opened.connection.execute("select current_setting('application_name')").fetchone()[0] == "fs-settings-test"
    finally:
        opened.connection.close()


def test_a_role_in_the_profile_is_the_sessions_role(postgres_server):
    opened = warehouse(postgres_server, role=postgres_server.user)
    try:
        assert opened.connection.execute("select current_user").fetchone()[0] == postgres_server.user
        assert opened.connection.execute("select current_setting('role')").fetchone()[0] == postgres_server.user
    finally:
        opened.connection.close()
