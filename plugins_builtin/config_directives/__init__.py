"""The builtin config-script directives (``\\set``, ``\\print``, ``\\exec`` ...)."""
