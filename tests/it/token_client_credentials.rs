// token_client_credentials
