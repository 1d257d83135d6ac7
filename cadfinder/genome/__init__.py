"""The parametric genome: schema, validation, expressions and open-kernel instantiation."""

SCHEMA_ID = "cadfinder.genome/1"
