"""The web application (REST API and pages) — arrives with the API issue."""
