"""High availability (issue 17): two collectors on one PostgreSQL, exactly one leads."""
