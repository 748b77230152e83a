DROP INDEX leadgate.leads_touches;
DROP INDEX leadgate.leads_campaign_received;
