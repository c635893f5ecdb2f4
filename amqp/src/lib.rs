//! treestat-amqp: the AMQP source (Psistats messages and JSON trees from a RabbitMQ
//! broker into the engine) and the AMQP output used by the agent and the relay.
