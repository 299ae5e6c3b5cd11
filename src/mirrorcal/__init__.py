"""mirrorcal: keep a recruiter's calendars in step without leaking one client's business into another's."""

__version__ = "0.1.0"
