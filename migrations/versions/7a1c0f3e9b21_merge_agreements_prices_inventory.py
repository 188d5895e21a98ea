"""merge the agreements, price lists and inventory branches

Revision ID: 7a1c0f3e9b21
Revises: 0e090058b19e, 59ecac7f3f62, e4e30d815314
Create Date: 2026-11-22 17:40:00

"""

# revision identifiers, used by Alembic.
revision = "7a1c0f3e9b21"
down_revision = ("0e090058b19e", "59ecac7f3f62", "e4e30d815314")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
