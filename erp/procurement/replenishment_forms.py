"""Replenishment forms. They check shape only; the services decide and re-validate everything."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.validators import DataRequired

#: the largest quantity one suggestion line may ask for (the column is a 32-bit integer)
MAX_QUANTITY = 1_000_000_000


class DraftOrdersForm(FlaskForm):
    """The suggestions ticked in the list, each with its quantity in a ``qty-<sku id>`` field."""

    sku_ids = SelectMultipleField("Suggestions", coerce=int, validate_choice=False,
                                  validators=[DataRequired(message="Tick at least one "
                                                                   "suggestion.")])

    def quantities(self, formdata) -> dict[int, int]:
        """Return ``{sku_id: quantity}`` of the ticked lines from the posted ``qty-`` fields.

        :raises ValueError: naming the first line whose quantity is not a whole number from 1
            to :data:`MAX_QUANTITY`.
        """
        quantities = {}
        for sku_id in self.sku_ids.data:
            text = (formdata.get(f"qty-{sku_id}") or "").strip()
            if not text.isdigit() or not 1 <= int(text) <= MAX_QUANTITY:
                raise ValueError(f"The quantity of every ticked line must be a whole number "
                                 f"from 1 to {MAX_QUANTITY:,}; got {text or 'nothing'!r}.")
            quantities[sku_id] = int(text)
        return quantities
