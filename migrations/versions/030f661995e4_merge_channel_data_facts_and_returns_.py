"""merge channel-data facts and returns/recalls

Revision ID: 030f661995e4
Revises: 791e1dc49241, f79cbaecf2b0
Create Date: 2026-12-01 19:42:00.296182

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '030f661995e4'
down_revision = ('791e1dc49241', 'f79cbaecf2b0')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
