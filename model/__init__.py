"""tokenmill.model. Imported only as `tokenmill.model` (see DESIGN.md section 3)."""

if __name__ != "tokenmill.model":
    # Importing this folder under its bare name would give every module two identities, and
    # Beam would pickle classes under a name the workers cannot import.
    raise ImportError(f"import this package as 'tokenmill.model', not '{__name__}'")
