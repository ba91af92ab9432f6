"""LLM cassettes: settings, request matching, secret redaction, the YAML format, the vcrpy
cassette and its pytest side.
"""
