"""Alembic environment: runs against the engine and the capabilities handed over in
``config.attributes`` (see ``trailguard.core.db.alembic_config``)."""

from alembic import context

from trailguard.core.db import Base, load_all_models

config = context.config
load_all_models(config.attributes["capabilities"])
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
