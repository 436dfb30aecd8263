"""The company constants of the 9610 export as settings.

Customs codes of the platform, the seller, the declarant, the offices, the transport, and the
carriers' and payment companies' codes.

Empty by default (the retailer fills them in; the demo uses the reference's sample codes): the
completeness gate refuses to close a batch of 9610 parcels while one that the messages need is
empty.
"""

from __future__ import annotations

import re

from erp.core.i18n import _, _l
from erp.core.settings import SettingDef, declare

_CODE = re.compile(r"^[0-9A-Za-z]{1,18}$")


def _code(value: str) -> str:
    text = str(value).strip()
    if text and not _CODE.match(text):
        raise ValueError(_("must be a customs code of at most 18 letters and digits"))
    return text


def _name(value: str) -> str:
    text = str(value).strip()
    if len(text) > 100:
        raise ValueError(_("must be at most 100 characters"))
    return text


def _office(value: str) -> str:
    text = str(value).strip()
    if text and not (len(text) == 4 and text.isdigit()):
        raise ValueError(_("must be a customs office code of 4 digits"))
    return text


def _one_char(value: str) -> str:
    text = str(value).strip()
    if len(text) != 1 or not text.isalnum():
        raise ValueError(_("must be one letter or digit"))
    return text


def _statistics_flag(value: str) -> str:
    text = str(value).strip().upper()
    if text not in ("A", "B"):
        raise ValueError(_("must be A or B"))
    return text


def _dxp(value: str) -> str:
    text = str(value).strip()
    if len(text) > 30 or (text and not text.isalnum()):
        raise ValueError(_("must be at most 30 letters and digits"))
    return text


def _code_lines_text(value: str) -> str:
    """Check ``KEY CODE NAME`` lines and return them as text (one per line)."""
    parse_code_lines(value)
    return "\n".join(line.strip() for line in str(value).splitlines() if line.strip())


def parse_code_lines(value: str) -> dict[str, tuple[str, str]]:
    """Parse ``KEY CODE NAME`` lines into ``{KEY: (CODE, NAME)}``."""
    out: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(str(value).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise ValueError(_("line %(line)s: write the key, the customs code and the name",
                               line=number))
        key, code, name = parts
        if not _CODE.match(code):
            raise ValueError(_("line %(line)s: %(code)s is not a customs code of at most 18 "
                               "letters and digits", line=number, code=code))
        if len(name) > 100:
            raise ValueError(_("line %(line)s: the name is longer than 100 characters",
                               line=number))
        out[key] = (code, name)
    return out


COMPANY_SETTINGS = (
    "customs_ebp_code", "customs_ebp_name", "customs_ebc_code", "customs_ebc_name",
    "customs_owner_code", "customs_owner_name", "customs_agent_code", "customs_agent_name",
    "customs_cop_code", "customs_cop_name", "customs_dxp_id", "customs_customs_code",
    "customs_port_code")

declare(
    SettingDef("customs_ebp_code", _l("9610: platform customs code (ebpCode)"), _code, "",
               _l("The e-commerce platform's 10-character customs code or 18-character "
                  "USCC."), optional=True),
    SettingDef("customs_ebp_name", _l("9610: platform name (ebpName)"), _name, "",
               optional=True),
    SettingDef("customs_ebc_code", _l("9610: seller customs code (ebcCode)"), _code, "",
               _l("The e-commerce enterprise, consignor on the declaration lists."),
               optional=True),
    SettingDef("customs_ebc_name", _l("9610: seller name (ebcName)"), _name, "", optional=True),
    SettingDef("customs_owner_code", _l("9610: producer or seller code (ownerCode)"), _code,
               "", _l("NO if the company is not registered with customs."), optional=True),
    SettingDef("customs_owner_name", _l("9610: producer or seller name (ownerName)"), _name,
               "", optional=True),
    SettingDef("customs_agent_code", _l("9610: declarant code (agentCode)"), _code, "",
               optional=True),
    SettingDef("customs_agent_name", _l("9610: declarant name (agentName)"), _name, "",
               optional=True),
    SettingDef("customs_cop_code", _l("9610: sending company code (copCode)"), _code, "",
               _l("The company of the certificate that sends the messages (BaseTransfer)."),
               optional=True),
    SettingDef("customs_cop_name", _l("9610: sending company name (copName)"), _name, "",
               optional=True),
    SettingDef("customs_dxp_id", _l("9610: data exchange ID (dxpId)"), _dxp, "",
               optional=True),
    SettingDef("customs_customs_code", _l("9610: customs office of declaration (4 digits)"),
               _office, "", optional=True),
    SettingDef("customs_port_code", _l("9610: customs office of the exit port (4 digits)"),
               _office, "", optional=True),
    SettingDef("customs_traf_mode", _l("9610: transport mode code"), _one_char, "5",
               _l("5 air, 6 post, 4 road, 2 sea.")),
    SettingDef("customs_wrap_type", _l("9610: package type code"), _one_char, "2",
               _l("One digit, e.g. 2 carton.")),
    SettingDef("customs_statistics_flag", _l("9610: declaration type (A or B)"),
               _statistics_flag, "B",
               _l("B: summary declaration (export declarations each month); A: simplified.")),
    SettingDef("customs_logistics_codes", _l("9610: carriers' customs codes"), _code_lines_text, "",
               _l("One line per carrier: carrier code, customs code, name, e.g. "
                  "SFX 4403980L02 深圳市样例国际物流有限公司."), multiline=True, optional=True),
    SettingDef("customs_pay_codes", _l("9610: payment companies' customs codes"), _code_lines_text,
               "", _l("One line per payment provider: provider, customs code (payCode), name "
                      "(payName). A provider not listed is sent by its name without a code."),
               multiline=True, optional=True),
)
