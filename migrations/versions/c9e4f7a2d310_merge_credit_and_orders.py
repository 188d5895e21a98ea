"""merge the credit and the sales orders branches (issue 5, built in parallel)

Revision ID: c9e4f7a2d310
Revises: 0218ffa76fd6, b5d2c8e41a07
Create Date: 2026-11-22 18:05:00

"""

# revision identifiers, used by Alembic.
revision = "c9e4f7a2d310"
down_revision = ("0218ffa76fd6", "b5d2c8e41a07")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
