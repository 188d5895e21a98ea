"""merge returns/recalls and channel-data ingestion

Revision ID: c7721d4cb761
Revises: 030f661995e4, 2a458d5868fc
Create Date: 2026-12-01 20:23:15.008348

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7721d4cb761'
down_revision = ('030f661995e4', '2a458d5868fc')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
