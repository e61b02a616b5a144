"""tokenmill.transforms. Imported only as `tokenmill.transforms` (see DESIGN.md section 3)."""

if __name__ != "tokenmill.transforms":
    # Importing this folder under its bare name would give every module two identities, and
    # Beam would pickle classes under a name the workers cannot import.
    raise ImportError(f"import this package as 'tokenmill.transforms', not '{__name__}'")
