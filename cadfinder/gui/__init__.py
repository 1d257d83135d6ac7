"""The desktop application (PySide6 + pyvistaqt + qasync). Imports the headless core, never the reverse."""
