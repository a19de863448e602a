"""`PetabError`: a mistake in a PEtab problem or a feature diffsim does not support."""


class PetabError(ValueError):
    """One line naming the file (and row and column, where there is one) and what is wrong.

    A `ValueError`, so the command line reports it in one line with exit status 2.

    **Example:** a problem file whose YAML is not PEtab version 1.

    ```python
    import pathlib
    import tempfile

    from diffsim import petab

    path = pathlib.Path(tempfile.mkdtemp()) / "problem.yaml"
    path.write_text("format_version: 2")
    try:
        petab.load(path)
    except petab.PetabError as error:
        assert "format_version" in str(error) and len(str(error).splitlines()) == 1
        print(error)
    ```
    """


def where(file: str, row: int | None = None, column: str | None = None) -> str:
    """`file`, `file row N` or `file row N column C` for messages (rows counted from 1 below
    the header, as a spreadsheet shows them, minus the header)."""
    text = str(file)
    if row is not None:
        text += f" row {row}"
    if column is not None:
        text += f" column {column!r}"
    return text
