"""What support leads measure: CSAT and the KPI report."""
