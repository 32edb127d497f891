"""Alembic environment: runs against the engine handed over in ``config.attributes``."""

from alembic import context

from trailguard.core.db import Base, load_all_models

load_all_models()
config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
