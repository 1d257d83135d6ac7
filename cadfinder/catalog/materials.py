"""Engineering materials with densities, for masses and for the catalog."""

# kg / m^3
DENSITY = {
    "steel": 7850.0,
    "stainless steel": 8000.0,
    "aluminium": 2700.0,
    "brass": 8500.0,
    "cast iron": 7200.0,
    "bronze": 8800.0,
    "titanium": 4430.0,
    "pom": 1410.0,
    "nylon": 1140.0,
    "abs": 1050.0,
    "pvc": 1380.0,
    "copper": 8960.0,
    "spring steel": 7850.0,
}

ALIASES = {"aluminum": "aluminium", "al": "aluminium", "stainless": "stainless steel", "ss": "stainless steel",
           "acetal": "pom", "delrin": "pom", "pa": "nylon", "pa6": "nylon", "ci": "cast iron", "iron": "cast iron"}


def canonical(material: str | None) -> str | None:
    if material is None:
        return None
    m = material.strip().lower()
    return ALIASES.get(m, m)


def mass_kg(volume_mm3: float, material: str | None) -> float | None:
    """Mass from volume and density; None when the material is unknown."""
    rho = DENSITY.get(canonical(material) or "")
    return None if rho is None else volume_mm3 * 1e-9 * rho
