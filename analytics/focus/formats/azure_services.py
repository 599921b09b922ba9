"""FOCUS ServiceCategory and ServiceSubcategory of Azure meter categories.

Keyed by the Cost Details ``MeterCategory`` (Microsoft's service families as billed); a
category not listed falls back to ``Other`` / ``Other (Other)``.
"""

from __future__ import annotations

from analytics.focus.formats.base import literal

AZURE_SERVICES: dict[str, tuple[str, str]] = {
    "Virtual Machines": ("Compute", "Virtual Machines"),
    "Virtual Machines Licenses": ("Compute", "Virtual Machines"),
    "Azure App Service": ("Web", "Application Platforms"),
    "Functions": ("Compute", "Serverless Compute"),
    "Azure Kubernetes Service": ("Compute", "Containers"),
    "Container Instances": ("Compute", "Containers"),
    "Container Registry": ("Compute", "Containers"),
    "Azure Container Apps": ("Compute", "Containers"),
    "Azure Virtual Desktop": ("Compute", "End User Computing"),
    "Storage": ("Storage", "Storage Platforms"),
    "Backup": ("Storage", "Backup Storage"),
    "Azure NetApp Files": ("Storage", "File Storage"),
    "SQL Database": ("Databases", "Relational Databases"),
    "SQL Managed Instance": ("Databases", "Relational Databases"),
    "Azure Database for PostgreSQL": ("Databases", "Relational Databases"),
    "Azure Database for MySQL": ("Databases", "Relational Databases"),
    "Azure Cosmos DB": ("Databases", "NoSQL Databases"),
    "Redis Cache": ("Databases", "Caching"),
    "Azure Synapse Analytics": ("Databases", "Data Warehouses"),
    "Bandwidth": ("Networking", "Network Connectivity"),
    "Virtual Network": ("Networking", "Network Infrastructure"),
    "Load Balancer": ("Networking", "Application Networking"),
    "Application Gateway": ("Networking", "Application Networking"),
    "Azure Front Door Service": ("Networking", "Content Delivery"),
    "Content Delivery Network": ("Networking", "Content Delivery"),
    "Azure DNS": ("Networking", "Network Routing"),
    "Traffic Manager": ("Networking", "Network Routing"),
    "VPN Gateway": ("Networking", "Network Connectivity"),
    "ExpressRoute": ("Networking", "Network Connectivity"),
    "Azure Firewall": ("Networking", "Network Security"),
    "Azure DDOS Protection": ("Networking", "Network Security"),
    "IP Addresses": ("Networking", "Network Infrastructure"),
    "Network Watcher": ("Management and Governance", "Observability"),
    "Azure Monitor": ("Management and Governance", "Observability"),
    "Log Analytics": ("Management and Governance", "Observability"),
    "Application Insights": ("Management and Governance", "Observability"),
    "Azure Site Recovery": ("Management and Governance", "Disaster Recovery"),
    "Advanced Threat Protection": ("Security", "Threat Detection and Response"),
    "Microsoft Defender for Cloud": ("Security", "Security Posture Management"),
    "Key Vault": ("Security", "Secret Management"),
    "Microsoft Entra ID": ("Identity", "Identity and Access Management"),
    "Azure Active Directory B2C": ("Identity", "Identity and Access Management"),
    "Service Bus": ("Integration", "Messaging"),
    "Event Hubs": ("Analytics", "Streaming Analytics"),
    "Event Grid": ("Integration", "Messaging"),
    "Logic Apps": ("Integration", "Workflow Orchestration"),
    "API Management": ("Integration", "API Management"),
    "Azure Data Factory v2": ("Analytics", "Data Processing"),
    "Azure Databricks": ("Analytics", "Analytics Platforms"),
    "HDInsight": ("Analytics", "Data Processing"),
    "Azure Cognitive Search": ("Analytics", "Search"),
    "Stream Analytics": ("Analytics", "Streaming Analytics"),
    "Power BI Embedded": ("Analytics", "Business Intelligence"),
    "Cognitive Services": ("AI and Machine Learning", "AI Platforms"),
    "Azure OpenAI Service": ("AI and Machine Learning", "Generative AI"),
    "Azure Machine Learning": ("AI and Machine Learning", "Machine Learning"),
    "IoT Hub": ("Internet of Things", "IoT Platforms"),
    "Azure DevOps": ("Developer Tools", "Developer Platforms"),
    "Visual Studio Subscription": ("Developer Tools", "Development Environments"),
    "Azure Migrate": ("Migration", "Resource Migration"),
    "Azure Arc": ("Multicloud", "Multicloud Integration"),
}


def values_sql() -> str:
    rows = ", ".join(f"({literal(k)}, {literal(c)}, {literal(s)})" for k, (c, s) in sorted(AZURE_SERVICES.items()))
    return f"(VALUES {rows}) AS azure_services(service_key, service_category, service_subcategory)"
