"""Replenishment forms. They check shape only; the services decide and re-validate everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired

from erp.core.i18n import _, _l, format_number

#: the largest quantity one suggestion line may ask for (the column is a 32-bit integer)
MAX_QUANTITY = 1_000_000_000


class DraftOrdersForm(FlaskForm):
    """The suggestions ticked in the list, each with its quantity in a ``qty-<sku id>`` field."""

    sku_ids = SelectMultipleField(_l("Suggestions"), coerce=int, validate_choice=False,
                                  validators=[DataRequired(message=_l("Tick at least one "
                                                                      "suggestion."))])

    def quantities(self, formdata) -> dict[int, int]:
        """Return ``{sku_id: quantity}`` of the ticked lines from the posted ``qty-`` fields.

        :raises ValueError: naming the first line whose quantity is not a whole number from 1
            to :data:`MAX_QUANTITY`.
        """
        quantities = {}
        for sku_id in self.sku_ids.data:
            text = (formdata.get(f"qty-{sku_id}") or "").strip()
            if not text.isdigit() or not 1 <= int(text) <= MAX_QUANTITY:
                raise ValueError(_("The quantity of every ticked line must be a whole number "
                                   "from 1 to %(most)s; got %(value)s.",
                                   most=format_number(MAX_QUANTITY),
                                   value=repr(text) if text else _("nothing")))
            quantities[sku_id] = int(text)
        return quantities
