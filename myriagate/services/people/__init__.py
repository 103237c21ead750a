"""People: who is calling (tokens, passwords, sessions, trusted-proxy identities), users and
their project memberships, the admin directory (institutions, projects, audit log), and
closing a disabled user's credentials."""
