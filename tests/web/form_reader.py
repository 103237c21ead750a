"""What a browser without JavaScript would post from a page's form: the fields as the page
drew them (a select's selected option, else its first; ticked checkboxes and radios only;
a textarea's text), read with the standard library's HTML parser."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.found = False
        self.fields: dict[str, str] = {}
        self.selects: dict[str, list[tuple[str, bool]]] = {}
        self.textareas: set[str] = set()
        self._select: str | None = None
        self._textarea: str | None = None
        self._option: dict[str, str | None] | None = None
        self._option_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form" and (a.get("method") or "get").lower() == "post" and a.get("action") == self.action:
            self.inside = self.found = True
        if not self.inside:
            return
        name = a.get("name") or ""
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields[name] = a.get("value") or "on"
            elif kind not in ("file", "submit", "button", "image", "reset"):
                self.fields[name] = a.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.selects[name] = []
        elif tag == "option" and self._select is not None:
            self._option, self._option_text = a, ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.textareas.add(name)
            self.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea] += data
        if self._option is not None:
            self._option_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "option" and self._option is not None and self._select is not None:
            value = self._option.get("value")
            self.selects[self._select].append((self._option_text if value is None else value,
                                               "selected" in self._option))  # fmt: skip
            self._option = None
        elif tag == "select":
            self._select = None


def posted_fields(page: str, action: str = "/submit") -> dict[str, str]:
    """The fields of the page's ``<form method="post" action=…>`` as a browser posts them."""
    reader = _FormReader(action)
    reader.feed(page)
    assert reader.found, f"no POST form to {action} on the page"
    fields = dict(reader.fields)
    for name, options in reader.selects.items():
        chosen = [value for value, selected in options if selected] or [v for v, _ in options[:1]]
        if chosen:
            fields[name] = chosen[-1]
    # A textarea's first newline is not part of its value (HTML parsing rules).
    return {k: v.removeprefix("\n") if k in reader.textareas else v for k, v in fields.items()}


def selected(page: str, name: str, action: str = "/submit") -> str | None:
    """The option a browser shows as chosen in the form's select ``name``."""
    return posted_fields(page, action).get(name)
