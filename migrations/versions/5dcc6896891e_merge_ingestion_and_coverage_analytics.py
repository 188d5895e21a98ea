"""merge ingestion and coverage analytics

Revision ID: 5dcc6896891e
Revises: c7721d4cb761, def302049370
Create Date: 2026-12-01 20:29:23.260845

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5dcc6896891e'
down_revision = ('c7721d4cb761', 'def302049370')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
