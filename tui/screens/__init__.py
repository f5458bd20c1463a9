"""Modal screens: the live-mode confirmation, the quit question and the help.

Each is a ``ModalScreen`` that returns its answer through ``dismiss``; the app's
priority flatten binding still fires while any of them is open.
"""
