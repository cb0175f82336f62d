"""The config-script language (template variables so far)."""
