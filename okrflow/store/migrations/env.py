"""Alembic environment: runs on the connection the store hands over (``config.attributes["connection"]``)."""

from alembic import context

from okrflow.store.models import Base, index_filter

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    include_object=index_filter(connection.dialect.name),  # each dialect has its own history indexes
)
with context.begin_transaction():
    context.run_migrations()
