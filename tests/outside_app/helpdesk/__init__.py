"""helpdesk: tickets behind a module-level engine, a domain object and an API layer, with Alembic
migrations. Its request path goes handler -> ``Ticket.save()`` -> DB function, as large services'
do, and opens its own transactions along the way."""
