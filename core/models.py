"""Peewee models over cmail's own schema (v9). cmail owns these tables: every table and column
name is spelled out, nothing is derived, and nothing here creates or alters a table."""

from __future__ import annotations

import peewee as pw

from core.db import proxy


class CmailModel(pw.Model):
    class Meta:
        database = proxy
        legacy_table_names = False


class User(CmailModel):
    name = pw.TextField(column_name="user_name", primary_key=True)
    authdata = pw.TextField(column_name="user_authdata", null=True)
    database = pw.TextField(column_name="user_database", null=True)
    alias = pw.ForeignKeyField(
        "self",
        object_id_name="alias_id",
        field="name",
        column_name="user_alias",
        null=True,
        backref="aliased_by",
        on_delete="SET NULL",
        on_update="CASCADE",
        index=False,
    )

    class Meta:
        table_name = "users"


class Address(CmailModel):
    expression = pw.TextField(column_name="address_expression")
    order = pw.AutoField(column_name="address_order")
    router = pw.TextField(column_name="address_router", default="drop")
    route = pw.TextField(column_name="address_route", null=True)

    class Meta:
        table_name = "addresses"


class Mail(CmailModel):
    id = pw.AutoField(column_name="mail_id")
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="mail_user",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
    )
    read = pw.BooleanField(column_name="mail_read", default=False)
    ident = pw.TextField(column_name="mail_ident", null=True)
    envelope_to = pw.TextField(column_name="mail_envelopeto")
    envelope_from = pw.TextField(column_name="mail_envelopefrom")
    submission = pw.TextField(column_name="mail_submission")
    submitter = pw.TextField(column_name="mail_submitter", null=True)
    proto = pw.TextField(column_name="mail_proto", default="smtp")
    data = pw.BlobField(column_name="mail_data", null=True)

    class Meta:
        table_name = "mailbox"


class Meta(CmailModel):
    key = pw.TextField(column_name="key", primary_key=True)
    value = pw.TextField(column_name="value", null=True)

    class Meta:
        table_name = "meta"


class Smtpd(CmailModel):
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="smtpd_user",
        primary_key=True,
        on_delete="CASCADE",
        on_update="CASCADE",
    )
    router = pw.TextField(column_name="smtpd_router", default="drop")
    route = pw.TextField(column_name="smtpd_route", null=True)

    class Meta:
        table_name = "smtpd"


class Outbox(CmailModel):
    id = pw.AutoField(column_name="mail_id")
    remote = pw.TextField(column_name="mail_remote", null=True)
    envelope_from = pw.TextField(column_name="mail_envelopefrom", null=True)
    envelope_to = pw.TextField(column_name="mail_envelopeto")
    submission = pw.IntegerField(column_name="mail_submission")
    submitter = pw.TextField(column_name="mail_submitter", null=True)
    data = pw.TextField(column_name="mail_data", null=True)

    class Meta:
        table_name = "outbox"


class Popd(CmailModel):
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="pop_user",
        primary_key=True,
        on_delete="CASCADE",
        on_update="CASCADE",
    )
    # cmail compares the lock with the integer 0: always write 0 or 1, never text.
    lock = pw.IntegerField(column_name="pop_lock", default=0)

    class Meta:
        table_name = "popd"


class Permission(CmailModel):
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="api_user",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
    )
    permission = pw.TextField(column_name="api_permission")

    class Meta:
        table_name = "api_access"
        primary_key = pw.CompositeKey("user", "permission")


class DelegatedExpression(CmailModel):
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="api_user",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
    )
    expression = pw.TextField(column_name="api_expression")

    class Meta:
        table_name = "api_address_delegates"
        primary_key = pw.CompositeKey("user", "expression")


class DelegatedUser(CmailModel):
    user = pw.ForeignKeyField(
        User,
        object_id_name="user_id",
        field="name",
        column_name="api_user",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
        backref="managed",
    )
    delegate = pw.ForeignKeyField(
        User,
        object_id_name="delegate_id",
        field="name",
        column_name="api_delegate",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
        backref="managers",
    )

    class Meta:
        table_name = "api_user_delegates"
        primary_key = pw.CompositeKey("user", "delegate")


class FailLog(CmailModel):
    mail = pw.ForeignKeyField(
        Outbox,
        object_id_name="mail_id",
        field="id",
        column_name="fail_mail",
        on_delete="CASCADE",
        on_update="CASCADE",
        index=False,
    )
    message = pw.TextField(column_name="fail_message", null=True)
    time = pw.TextField(column_name="fail_time")
    fatal = pw.BooleanField(column_name="fail_fatal", default=False)

    class Meta:
        table_name = "faillog"
        primary_key = False


class Outbound(CmailModel):
    """The read-only `outbound` view: outbox rows with their delivery attempts summed up."""

    id = pw.IntegerField(column_name="mail_id", primary_key=True)
    remote = pw.TextField(column_name="mail_remote", null=True)
    envelope_from = pw.TextField(column_name="mail_envelopefrom", null=True)
    envelope_to = pw.TextField(column_name="mail_envelopeto")
    submission = pw.IntegerField(column_name="mail_submission")
    submitter = pw.TextField(column_name="mail_submitter", null=True)
    data = pw.TextField(column_name="mail_data", null=True)
    failcount = pw.IntegerField(column_name="mail_failcount")
    lasttry = pw.TextField(column_name="mail_lasttry")
    fatality = pw.IntegerField(column_name="mail_fatality")

    class Meta:
        table_name = "outbound"


TABLE_MODELS = (
    User,
    Address,
    Mail,
    Meta,
    Smtpd,
    Outbox,
    Popd,
    Permission,
    DelegatedExpression,
    DelegatedUser,
    FailLog,
)
VIEW_MODELS = (Outbound,)
