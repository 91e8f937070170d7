"""childsafe example apps."""
