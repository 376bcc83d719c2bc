"""One module per cmail module. Every public function:

* takes the `Database` and the acting `Session` first;
* runs in exactly one unit: `db.read()` for queries, `db.write()` (IMMEDIATE) for changes;
* loads a fresh `Scope` (core.access.load_scope) inside that unit and asks it before acting,
  item by item in bulk actions;
* validates input with core.validation before writing, so SQLite never has to refuse it;
* reads foreign keys through their raw `*_id` attribute (`user.alias_id`), never the lazy
  relation (`user.alias`), which would query outside the unit;
* returns plain records (core.records), never ORM rows, and raises only CmailError subclasses.
"""
