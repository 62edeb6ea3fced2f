"""ISO 4217 currencies and their minor units; prices are Decimals, never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def _codes(table: str) -> frozenset[str]:
    return frozenset(table.split())


# Active ISO 4217 codes (funds and precious-metal codes left out). Minor units default to 2.
CURRENCIES = _codes(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL
    BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP
    SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN
    UYI UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """
)
_ZERO_DECIMALS = _codes("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF")
_THREE_DECIMALS = _codes("BHD IQD JOD KWD LYD OMR TND")
MAX_PRICE = Decimal("1000000000000")


def minor_units(currency: str) -> int:
    if currency in _ZERO_DECIMALS:
        return 0
    if currency in _THREE_DECIMALS:
        return 3
    return 2


def parse_price(raw: str) -> Decimal:
    """A non-negative decimal from its string form; raises ValueError with a readable reason."""
    text = raw.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("price must be a decimal string such as '19.99'") from None
    if not value.is_finite() or "e" in text.lower():
        raise ValueError("price must be a plain decimal string such as '19.99'")
    if value < 0:
        raise ValueError("price must not be negative")
    if value >= MAX_PRICE:
        raise ValueError(f"price must be below {MAX_PRICE}")
    return value


def check_price_for_currency(price: Decimal, currency: str) -> None:
    places = minor_units(currency)
    exponent = price.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        raise ValueError(f"{currency} prices have at most {places} decimal places")


_QUANTUM = {places: Decimal(1).scaleb(-places) for places in (0, 2, 3)}


def format_price(price: Decimal, currency: str) -> str:
    return str(price.quantize(_QUANTUM[minor_units(currency)]))
