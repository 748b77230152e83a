DROP INDEX leadgate.events_node_seq;
