"""Agent hook protocols, as pure mappings between their payloads and RUNE requests.

Each module speaks one protocol (`claude_code`: Claude Code's hooks) and depends on
nothing but the standard library and `rune.errors`, so the command line, the server and
the integrations all share it without importing each other.
"""
