DROP TRIGGER leads_inserted_first_leads ON leadgate.leads;
DROP TRIGGER leads_updated_first_leads ON leadgate.leads;
